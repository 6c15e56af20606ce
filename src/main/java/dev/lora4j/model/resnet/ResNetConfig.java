package dev.lora4j.model.resnet;

/**
 * The shape of a ResNet with basic blocks (torchvision's ResNet-18/34 layout).
 *
 * @param inChannels image channels (3 for RGB, 1 for grey)
 * @param stemKernel the first convolution's kernel (7 in torchvision; 3 suits small images)
 * @param stemStride its stride (2 in torchvision)
 * @param stemPool   whether a 3x3 stride-2 max pool follows the stem (true in torchvision)
 * @param widths     channels per stage (64, 128, 256, 512 in torchvision)
 * @param blocks     basic blocks per stage (2, 2, 2, 2 for ResNet-18); stages after the first halve the resolution
 * @param numClasses outputs of the {@code fc} head
 */
public record ResNetConfig(int inChannels, int stemKernel, int stemStride, boolean stemPool, int[] widths, int[] blocks, int numClasses) {
    public ResNetConfig {
        if (widths.length != blocks.length || widths.length == 0) {
            throw new IllegalArgumentException("ResNet needs one width per stage: " + widths.length + " widths, " + blocks.length + " block counts");
        }
        widths = widths.clone();
        blocks = blocks.clone();
    }

    /** torchvision's resnet18 (11.7M parameters at 1000 classes). */
    public static ResNetConfig resnet18(int numClasses) {
        return new ResNetConfig(3, 7, 2, true, new int[] {64, 128, 256, 512}, new int[] {2, 2, 2, 2}, numClasses);
    }

    /** A small one for 1-channel images of a few dozen pixels: 3x3 stem, no pool, three stages of one block. */
    public static ResNetConfig small(int width, int numClasses) {
        return new ResNetConfig(1, 3, 1, false, new int[] {width, 2 * width, 4 * width}, new int[] {1, 1, 1}, numClasses);
    }
}
