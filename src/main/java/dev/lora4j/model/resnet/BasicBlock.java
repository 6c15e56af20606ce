package dev.lora4j.model.resnet;

import dev.lora4j.autograd.ConvOps;
import dev.lora4j.autograd.Ops;
import dev.lora4j.autograd.Variable;
import dev.lora4j.nn.BatchNorm2d;
import dev.lora4j.nn.Module;
import dev.lora4j.nn.Slot;
import dev.lora4j.nn.conv.Conv2d;
import dev.lora4j.nn.conv.ConvLayer;
import java.util.random.RandomGenerator;

/**
 * torchvision's BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), both convolutions 3x3 without
 * bias; the shortcut is {@code downsample} (a 1x1 strided convolution "0" and a batch norm "1", as torch's
 * nn.Sequential names them) when the block changes resolution or width, else the identity.
 */
public final class BasicBlock extends Module {
    private final Slot<ConvLayer> conv1;
    private final Slot<BatchNorm2d> bn1;
    private final Slot<ConvLayer> conv2;
    private final Slot<BatchNorm2d> bn2;
    private final Slot<Downsample> downsample;

    /** The shortcut's projection, children named "0" (conv) and "1" (batch norm). */
    public static final class Downsample extends Module {
        private final Slot<ConvLayer> conv;
        private final Slot<BatchNorm2d> bn;

        Downsample(int in, int out, int stride, RandomGenerator rnd) {
            conv = register("0", Conv2d.random(in, out, 1, stride, 0, false, rnd));
            bn = register("1", BatchNorm2d.fresh(out));
        }

        Variable forward(Variable x) {
            return bn.get().forward(conv.get().forward(x));
        }
    }

    BasicBlock(int in, int out, int stride, RandomGenerator rnd) {
        conv1 = register("conv1", Conv2d.random(in, out, 3, stride, 1, false, rnd));
        bn1 = register("bn1", BatchNorm2d.fresh(out));
        conv2 = register("conv2", Conv2d.random(out, out, 3, 1, 1, false, rnd));
        bn2 = register("bn2", BatchNorm2d.fresh(out));
        downsample = stride != 1 || in != out ? register("downsample", new Downsample(in, out, stride, rnd)) : null;
    }

    public Variable forward(Variable x) {
        Variable h = ConvOps.relu(bn1.get().forward(conv1.get().forward(x)));
        h = bn2.get().forward(conv2.get().forward(h));
        Variable shortcut = downsample == null ? x : downsample.get().forward(x);
        return ConvOps.relu(Ops.add(h, shortcut));
    }
}
