package dev.lora4j.kernel;

import java.util.Arrays;

/**
 * Unfolds an NCHW batch into the column matrix that turns a convolution into one GEMM: cols [c·kh·kw, n·oh·ow],
 * row (channel, ky, kx) holding, for every output position of every image, the input under that kernel tap
 * (0 in the padding). Rows follow the weight's [out, c, kh, kw] flattening, so Y [out, n·oh·ow] = W·cols.
 * Positions run along rows, so for stride 1 each (tap, image, output row) is one contiguous copy.
 * {@link #col2im} is the adjoint: it adds every element back where it came from (the input gradient).
 */
public final class Im2col {
    private Im2col() {}

    /** cols [c·kh·kw, n·outH·outW] from x [n, c, h, w]. */
    public static void im2col(float[] x, Conv2dShape s, float[] cols) {
        VectorMath.checkLength("x", x, (long) s.n() * s.c() * s.h() * s.w());
        VectorMath.checkLength("cols", cols, (long) s.patch() * s.n() * s.outPlane());
        Parallel.parallelFor(0, s.patch(), tap -> unfoldTap(x, s, cols, tap, false));
    }

    /** dx [n, c, h, w] += every element of dcols [c·kh·kw, n·outH·outW] at the input position it was read from. */
    public static void col2im(float[] dcols, Conv2dShape s, float[] dx) {
        int taps = s.kh() * s.kw();
        // One channel's taps all write that channel's planes only, so threads split by channel never collide.
        Parallel.parallelFor(0, s.c(), ch -> {
            for (int t = 0; t < taps; t++) unfoldTap(dx, s, dcols, ch * taps + t, true);
        });
    }

    /** Copies one kernel tap's row between x and cols (x to cols, or cols added into x when {@code back}). */
    private static void unfoldTap(float[] x, Conv2dShape s, float[] cols, int tap, boolean back) {
        int ch = tap / (s.kh() * s.kw()), ky = tap / s.kw() % s.kh(), kx = tap % s.kw();
        int oh = s.outH(), ow = s.outW(), rows = s.n() * oh * ow;
        // The output columns whose input column lies inside the image: ox in [lo, hi).
        int lo = 0, hi = ow;
        int shiftX = kx * s.dw() - s.pw();
        while (lo < ow && lo * s.sw() + shiftX < 0) lo++;
        while (hi > lo && (hi - 1) * s.sw() + shiftX >= s.w()) hi--;
        for (int img = 0; img < s.n(); img++) {
            int plane = (img * s.c() + ch) * s.h() * s.w();
            for (int oy = 0; oy < oh; oy++) {
                int iy = oy * s.sh() - s.ph() + ky * s.dh();
                int row = tap * rows + (img * oh + oy) * ow;
                if (iy < 0 || iy >= s.h() || lo >= hi) {
                    if (!back) Arrays.fill(cols, row, row + ow, 0f);
                    continue;
                }
                int src = plane + iy * s.w() + lo * s.sw() + shiftX;
                if (back) {
                    if (s.sw() == 1) VectorMath.axpy(1f, cols, row + lo, x, src, hi - lo);
                    else for (int ox = lo; ox < hi; ox++) x[src + (ox - lo) * s.sw()] += cols[row + ox];
                } else {
                    Arrays.fill(cols, row, row + lo, 0f);
                    if (s.sw() == 1) System.arraycopy(x, src, cols, row + lo, hi - lo);
                    else for (int ox = lo; ox < hi; ox++) cols[row + ox] = x[src + (ox - lo) * s.sw()];
                    Arrays.fill(cols, row + hi, row + ow, 0f);
                }
            }
        }
    }

    /** y [n, ch, plane] from the GEMM output [ch, n·plane], or back when {@code inverse}. */
    public static void channelsToBatch(float[] src, float[] dst, int n, int ch, int plane, boolean inverse) {
        for (int img = 0; img < n; img++) {
            for (int o = 0; o < ch; o++) {
                int gemm = o * n * plane + img * plane, nchw = (img * ch + o) * plane;
                if (inverse) System.arraycopy(src, nchw, dst, gemm, plane);
                else System.arraycopy(src, gemm, dst, nchw, plane);
            }
        }
    }
}
