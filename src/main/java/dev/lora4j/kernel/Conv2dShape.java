package dev.lora4j.kernel;

/**
 * The geometry of a 2-D convolution or pooling window over an NCHW batch, with PyTorch's arithmetic:
 * out = ⌊(in + 2·pad − dilation·(k − 1) − 1) / stride⌋ + 1 per axis. A 1-D convolution is the case
 * h = kh = 1.
 *
 * @param n batch, c channels, h and w the input's height and width
 */
public record Conv2dShape(int n, int c, int h, int w, int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw) {
    public Conv2dShape {
        if (n <= 0 || c <= 0 || h <= 0 || w <= 0) throw new IllegalArgumentException("conv input [" + n + ", " + c + ", " + h + ", " + w + "] must be positive");
        if (kh <= 0 || kw <= 0 || sh <= 0 || sw <= 0 || dh <= 0 || dw <= 0 || ph < 0 || pw < 0) {
            throw new IllegalArgumentException("conv window: kernel " + kh + "x" + kw + ", stride " + sh + "x" + sw + ", dilation "
                + dh + "x" + dw + " must be positive and padding " + ph + "x" + pw + " non-negative");
        }
        if (outH(h, kh, sh, ph, dh) <= 0 || outW(w, kw, sw, pw, dw) <= 0) {
            throw new IllegalArgumentException("conv window " + kh + "x" + kw + " (dilation " + dh + "x" + dw + ", padding " + ph + "x" + pw
                + ") does not fit an input of " + h + "x" + w);
        }
    }

    private static int outH(int h, int kh, int sh, int ph, int dh) {
        return Math.floorDiv(h + 2 * ph - dh * (kh - 1) - 1, sh) + 1;
    }

    private static int outW(int w, int kw, int sw, int pw, int dw) {
        return Math.floorDiv(w + 2 * pw - dw * (kw - 1) - 1, sw) + 1;
    }

    public int outH() {
        return outH(h, kh, sh, ph, dh);
    }

    public int outW() {
        return outW(w, kw, sw, pw, dw);
    }

    /** Output positions per image and channel. */
    public int outPlane() {
        return outH() * outW();
    }

    /** Length of one patch: c·kh·kw, a row of the weight [out, c, kh, kw] flattened. */
    public int patch() {
        return c * kh * kw;
    }
}
