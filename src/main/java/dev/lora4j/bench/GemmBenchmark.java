package dev.lora4j.bench;

import dev.lora4j.kernel.Gemm;
import dev.lora4j.kernel.Int8Matrix;
import dev.lora4j.kernel.Nf4Matrix;
import dev.lora4j.kernel.QuantizedMatrix;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Measures {@link Gemm} in GFLOP/s on the shapes LoRA training runs (M tokens x N outputs x K inputs), in each
 * of the three layouts. Timing: every layout is first run untimed until the JIT has compiled its kernels; each case
 * then warms up briefly and repeats calls for at least a minimum time.
 */
public final class GemmBenchmark {

    /** One GEMM shape, written MxNxK on the command line. */
    public record Shape(int m, int n, int k) {
        public static Shape parse(String s) {
            String[] p = s.toLowerCase(Locale.ROOT).split("x");
            if (p.length != 3) throw new IllegalArgumentException("shape '" + s + "': expected MxNxK, e.g. 1024x576x576");
            try {
                return new Shape(Integer.parseInt(p[0].trim()), Integer.parseInt(p[1].trim()), Integer.parseInt(p[2].trim()));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("shape '" + s + "': expected three integers MxNxK", e);
            }
        }

        public double flops() {
            return 2.0 * m * n * k;
        }
    }

    /** The result of one (layout, shape) case. */
    public record Result(String impl, String layout, int m, int n, int k, double gflops, double secondsPerCall) {}

    /** The default shapes: M = 1024 tokens with the (N, K) pairs of SmolLM2-135M and MiniLM-L6 layers. */
    public static final List<String> DEFAULT_SHAPES = List.of(
        "1024x576x576", "1024x192x576", "1024x1536x576", "1024x576x1536",
        "1024x384x384", "1024x1536x384", "1024x384x1536", "1024x49152x576");

    private final double minSeconds;

    public GemmBenchmark(double minSeconds) {
        this.minSeconds = minSeconds;
    }

    /** Untimed calls per layout before the first timed case: C2 compiles the Vector API kernels in a second or two. */
    private static final double JIT_WARMUP_SECONDS = 3.0;

    public List<Result> run(List<Shape> shapes, List<String> layouts) {
        // Without this the first case of each layout was timed while the kernels were still being compiled: at
        // 0.5 s per case the first shape measured 114 GFLOP/s instead of 182 (1024x576x576 nt, quiet machine).
        if (!shapes.isEmpty()) for (String layout : layouts) new GemmBenchmark(JIT_WARMUP_SECONDS).measure(shapes.getFirst(), layout);
        List<Result> out = new ArrayList<>();
        for (Shape s : shapes) for (String layout : layouts) out.add(measure(s, layout));
        return out;
    }

    public Result measure(Shape s, String layout) {
        Random rnd = new Random(42);
        // Operand sizes per layout: nt A[M,K] B[N,K]; nn A[M,K] B[K,N]; tn A[K,M] B[K,N]; always C[M,N].
        float[] a = random(rnd, (long) s.m() * s.k());
        float[] b = random(rnd, (long) s.n() * s.k());
        float[] c = new float[Math.multiplyExact(s.m(), s.n())];
        Runnable call = switch (layout) {
            case "nt" -> () -> Gemm.nt(s.m(), s.n(), s.k(), a, b, c, false);
            case "nn" -> () -> Gemm.nn(s.m(), s.n(), s.k(), a, b, c, false);
            case "tn" -> () -> Gemm.tn(s.m(), s.n(), s.k(), a, b, c, false);
            // A frozen quantized weight as B: nt is the forward x·Wᵀ with W [N, K]; nn the input gradient dY·W, W [K, N].
            case "nt-nf4" -> quantizedCall(s, a, c, Nf4Matrix.quantize(b, s.n(), s.k()), true);
            case "nt-int8" -> quantizedCall(s, a, c, Int8Matrix.quantize(b, s.n(), s.k()), true);
            case "nn-nf4" -> quantizedCall(s, a, c, Nf4Matrix.quantize(b, s.k(), s.n()), false);
            case "nn-int8" -> quantizedCall(s, a, c, Int8Matrix.quantize(b, s.k(), s.n()), false);
            default -> throw new IllegalArgumentException("layout '" + layout + "': expected nt, nn, tn, nt-nf4, nt-int8, nn-nf4 or nn-int8");
        };
        long warmEnd = System.nanoTime() + (long) (Math.max(0.3, minSeconds / 2) * 1e9);
        do call.run(); while (System.nanoTime() < warmEnd);
        int calls = 0;
        long start = System.nanoTime(), now;
        do {
            call.run();
            calls++;
            now = System.nanoTime();
        } while (now - start < minSeconds * 1e9);
        double perCall = (now - start) / 1e9 / calls;
        return new Result("lora4j", layout, s.m(), s.n(), s.k(), s.flops() / perCall / 1e9, perCall);
    }

    private static Runnable quantizedCall(Shape s, float[] a, float[] c, QuantizedMatrix w, boolean nt) {
        return nt ? () -> Gemm.nt(s.m(), s.n(), s.k(), a, w, c, false) : () -> Gemm.nn(s.m(), s.n(), s.k(), a, w, c, false);
    }

    private static float[] random(Random rnd, long n) {
        float[] x = new float[Math.toIntExact(n)];
        for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextGaussian() * 0.5);
        return x;
    }
}
