package dev.lora4j.kernel;

import java.util.Arrays;

/**
 * Unfolds an NCHW batch into patch rows so that a convolution is one GEMM: row (img, oy, ox) holds the
 * input under the window at that output position, ordered (channel, ky, kx) like a row of the weight
 * [out, c, kh, kw]; positions in the padding read 0. {@link #col2im} is the adjoint (adds every patch
 * element back where it came from), which is the convolution's input gradient.
 */
public final class Im2col {
    private Im2col() {}

    /** cols [n·outH·outW, c·kh·kw] from x [n, c, h, w]. */
    public static void im2col(float[] x, Conv2dShape s, float[] cols) {
        int oh = s.outH(), ow = s.outW(), patch = s.patch();
        VectorMath.checkLength("x", x, (long) s.n() * s.c() * s.h() * s.w());
        VectorMath.checkLength("cols", cols, (long) s.n() * oh * ow * patch);
        Parallel.parallelFor(0, s.n(), img -> {
            {
                for (int oy = 0; oy < oh; oy++) {
                    for (int ox = 0; ox < ow; ox++) {
                        int row = ((img * oh + oy) * ow + ox) * patch;
                        int j = row;
                        for (int ch = 0; ch < s.c(); ch++) {
                            int plane = (img * s.c() + ch) * s.h() * s.w();
                            for (int ky = 0; ky < s.kh(); ky++) {
                                int iy = oy * s.sh() - s.ph() + ky * s.dh();
                                if (iy < 0 || iy >= s.h()) {
                                    Arrays.fill(cols, j, j + s.kw(), 0f);
                                    j += s.kw();
                                    continue;
                                }
                                for (int kx = 0; kx < s.kw(); kx++, j++) {
                                    int ix = ox * s.sw() - s.pw() + kx * s.dw();
                                    cols[j] = ix < 0 || ix >= s.w() ? 0f : x[plane + iy * s.w() + ix];
                                }
                            }
                        }
                    }
                }
            }
        });
    }

    /** dx [n, c, h, w] += every element of dcols [n·outH·outW, c·kh·kw] at the input position it was read from. */
    public static void col2im(float[] dcols, Conv2dShape s, float[] dx) {
        int oh = s.outH(), ow = s.outW(), patch = s.patch();
        // Images are independent, so threads split by image and never write the same element.
        Parallel.parallelFor(0, s.n(), img -> {
            {
                for (int oy = 0; oy < oh; oy++) {
                    for (int ox = 0; ox < ow; ox++) {
                        int j = ((img * oh + oy) * ow + ox) * patch;
                        for (int ch = 0; ch < s.c(); ch++) {
                            int plane = (img * s.c() + ch) * s.h() * s.w();
                            for (int ky = 0; ky < s.kh(); ky++) {
                                int iy = oy * s.sh() - s.ph() + ky * s.dh();
                                if (iy < 0 || iy >= s.h()) {
                                    j += s.kw();
                                    continue;
                                }
                                for (int kx = 0; kx < s.kw(); kx++, j++) {
                                    int ix = ox * s.sw() - s.pw() + kx * s.dw();
                                    if (ix >= 0 && ix < s.w()) dx[plane + iy * s.w() + ix] += dcols[j];
                                }
                            }
                        }
                    }
                }
            }
        });
    }

    /** dst [n, ch, plane] from src [n·plane, ch] (GEMM's row-per-position output to NCHW), or back when {@code inverse}. */
    public static void transposeBatch(float[] src, float[] dst, int n, int plane, int ch, boolean inverse) {
        for (int img = 0; img < n; img++) {
            int base = img * plane * ch;
            for (int p = 0; p < plane; p++) {
                for (int o = 0; o < ch; o++) {
                    int rowMajor = base + p * ch + o, planar = base + o * plane + p;
                    if (inverse) dst[rowMajor] = src[planar];
                    else dst[planar] = src[rowMajor];
                }
            }
        }
    }
}
