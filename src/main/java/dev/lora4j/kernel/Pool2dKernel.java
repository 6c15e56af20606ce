package dev.lora4j.kernel;

/**
 * Max and average pooling over NCHW planes with PyTorch's semantics: windows may hang into the zero padding;
 * max pooling ignores padded positions (torch pads with −∞), average pooling divides by the full window
 * size (count_include_pad=True, torch's default).
 */
public final class Pool2dKernel {
    private Pool2dKernel() {}

    /** y [n, c, oh, ow] = window maxima of x; argmax[i] is the flat input index each output took. */
    public static void maxForward(float[] x, Conv2dShape s, float[] y, int[] argmax) {
        int oh = s.outH(), ow = s.outW(), hw = s.h() * s.w();
        for (int plane = 0; plane < s.n() * s.c(); plane++) {
            int base = plane * hw;
            for (int oy = 0; oy < oh; oy++) {
                for (int ox = 0; ox < ow; ox++) {
                    float best = Float.NEGATIVE_INFINITY;
                    int at = -1;
                    for (int ky = 0; ky < s.kh(); ky++) {
                        int iy = oy * s.sh() - s.ph() + ky * s.dh();
                        if (iy < 0 || iy >= s.h()) continue;
                        for (int kx = 0; kx < s.kw(); kx++) {
                            int ix = ox * s.sw() - s.pw() + kx * s.dw();
                            if (ix < 0 || ix >= s.w()) continue;
                            float v = x[base + iy * s.w() + ix];
                            // NaN propagates, as in torch: it wins every comparison it is part of.
                            if (v > best || Float.isNaN(v) || at < 0) {
                                best = v;
                                at = base + iy * s.w() + ix;
                            }
                        }
                    }
                    int o = (plane * oh + oy) * ow + ox;
                    y[o] = best;
                    argmax[o] = at;
                }
            }
        }
    }

    /** dx[argmax[i]] += dy[i]. */
    public static void maxBackward(float[] dy, int[] argmax, float[] dx) {
        for (int i = 0; i < dy.length; i++) dx[argmax[i]] += dy[i];
    }

    /** y = window sums of x divided by kh·kw (padding counted). */
    public static void avgForward(float[] x, Conv2dShape s, float[] y) {
        window(x, s, y, false);
    }

    /** dx += dy / (kh·kw) spread over each window. */
    public static void avgBackward(float[] dy, Conv2dShape s, float[] dx) {
        window(dy, s, dx, true);
    }

    private static void window(float[] a, Conv2dShape s, float[] b, boolean backward) {
        int oh = s.outH(), ow = s.outW(), hw = s.h() * s.w();
        float inv = 1f / (s.kh() * s.kw());
        for (int plane = 0; plane < s.n() * s.c(); plane++) {
            int base = plane * hw;
            for (int oy = 0; oy < oh; oy++) {
                for (int ox = 0; ox < ow; ox++) {
                    int o = (plane * oh + oy) * ow + ox;
                    float sum = 0;
                    for (int ky = 0; ky < s.kh(); ky++) {
                        int iy = oy * s.sh() - s.ph() + ky * s.dh();
                        if (iy < 0 || iy >= s.h()) continue;
                        for (int kx = 0; kx < s.kw(); kx++) {
                            int ix = ox * s.sw() - s.pw() + kx * s.dw();
                            if (ix < 0 || ix >= s.w()) continue;
                            if (backward) b[base + iy * s.w() + ix] += a[o] * inv;
                            else sum += a[base + iy * s.w() + ix];
                        }
                    }
                    if (!backward) b[o] = sum * inv;
                }
            }
        }
    }
}
