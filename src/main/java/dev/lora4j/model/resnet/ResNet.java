package dev.lora4j.model.resnet;

import dev.lora4j.autograd.ConvOps;
import dev.lora4j.autograd.Variable;
import dev.lora4j.nn.BatchNorm2d;
import dev.lora4j.nn.Linear;
import dev.lora4j.nn.LinearLayer;
import dev.lora4j.nn.Module;
import dev.lora4j.nn.ModuleList;
import dev.lora4j.nn.Slot;
import dev.lora4j.nn.conv.Conv2d;
import dev.lora4j.nn.conv.ConvLayer;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * An image classifier with torchvision's ResNet layout and parameter names ({@code conv1}, {@code bn1},
 * {@code layer1.0.conv1}, {@code layer2.0.downsample.0}, ..., {@code fc}), so that
 * {@link dev.lora4j.model.StateDict} loads a torchvision resnet18 state_dict saved as safetensors. Input
 * [n, channels, h, w], output logits [n, classes].
 */
public final class ResNet extends Module {
    private final ResNetConfig config;
    private final Slot<ConvLayer> conv1;
    private final Slot<BatchNorm2d> bn1;
    private final List<Slot<ModuleList<BasicBlock>>> layers = new ArrayList<>();
    private final Slot<LinearLayer> fc;

    public ResNet(ResNetConfig config, long seed) {
        this.config = config;
        SplittableRandom rnd = new SplittableRandom(seed);
        int w0 = config.widths()[0];
        conv1 = register("conv1", Conv2d.random(config.inChannels(), w0, config.stemKernel(), config.stemStride(), config.stemKernel() / 2, false, rnd));
        bn1 = register("bn1", BatchNorm2d.fresh(w0));
        int in = w0;
        for (int s = 0; s < config.widths().length; s++) {
            List<BasicBlock> blocks = new ArrayList<>();
            for (int b = 0; b < config.blocks()[s]; b++) {
                int stride = s > 0 && b == 0 ? 2 : 1;
                blocks.add(new BasicBlock(in, config.widths()[s], stride, rnd));
                in = config.widths()[s];
            }
            layers.add(register("layer" + (s + 1), new ModuleList<>(blocks)));
        }
        fc = register("fc", Linear.random(in, config.numClasses(), true, rnd));
    }

    public ResNetConfig config() {
        return config;
    }

    public Variable forward(Variable x) {
        Variable h = ConvOps.relu(bn1.get().forward(conv1.get().forward(x)));
        if (config.stemPool()) h = ConvOps.maxPool2d(h, ConvOps.geometry(h, 3, 3, new int[] {2, 2}, new int[] {1, 1}, new int[] {1, 1}));
        for (Slot<ModuleList<BasicBlock>> layer : layers) {
            ModuleList<BasicBlock> blocks = layer.get();
            for (int i = 0; i < blocks.size(); i++) h = blocks.get(i).forward(h);
        }
        return fc.get().forward(ConvOps.globalAvgPool(h));
    }
}
