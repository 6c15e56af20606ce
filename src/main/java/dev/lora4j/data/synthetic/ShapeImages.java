package dev.lora4j.data.synthetic;

import java.util.List;
import java.util.SplittableRandom;

/**
 * Small grey images of rendered shapes, generated from a seed: each shape is an implicit region in its own
 * frame (unit size), placed at a random centre, size and angle, with Gaussian pixel noise. Two class sets
 * share no shape, so a network pretrained on {@link #BASE} meets new classes in {@link #SHIFTED}.
 */
public final class ShapeImages {
    /** A shape as a test in its own frame: is (u, v) inside? */
    @FunctionalInterface
    interface Region {
        boolean contains(double u, double v);
    }

    /** A named shape. */
    public record Shape(String name, Region region) {}

    public static final List<Shape> BASE = List.of(
        new Shape("square", (u, v) -> Math.max(Math.abs(u), Math.abs(v)) <= 0.8),
        new Shape("disc", (u, v) -> u * u + v * v <= 0.9),
        new Shape("triangle", (u, v) -> v >= -0.7 && v <= 1 - 1.7 * Math.abs(u)),
        new Shape("cross", (u, v) -> (Math.abs(u) <= 0.28 && Math.abs(v) <= 1) || (Math.abs(v) <= 0.28 && Math.abs(u) <= 1)));

    public static final List<Shape> SHIFTED = List.of(
        new Shape("ring", (u, v) -> u * u + v * v <= 1 && u * u + v * v >= 0.45),
        new Shape("bar", (u, v) -> Math.abs(u) <= 1 && Math.abs(v) <= 0.3),
        new Shape("diamond", (u, v) -> Math.abs(u) + Math.abs(v) <= 1),
        new Shape("frame", (u, v) -> Math.max(Math.abs(u), Math.abs(v)) <= 0.9 && Math.max(Math.abs(u), Math.abs(v)) >= 0.55));

    /** A labelled set: images [n, 1, size, size] (about 0 for background, 0.7-1 for the shape, plus noise) and labels. */
    public record Set(float[] images, int[] labels, int size) {
        public int count() {
            return labels.length;
        }

        /** The images at the given indices, as one contiguous [n, 1, size, size] array. */
        public float[] images(int[] index) {
            int plane = size * size;
            float[] out = new float[index.length * plane];
            for (int i = 0; i < index.length; i++) System.arraycopy(images, index[i] * plane, out, i * plane, plane);
            return out;
        }
    }

    private ShapeImages() {}

    /**
     * {@code count} images, classes in turn.
     *
     * @param maxAngle shapes are rotated uniformly within ±maxAngle radians
     * @param noise    standard deviation of the pixel noise
     */
    public static Set generate(List<Shape> classes, int count, int size, double maxAngle, double noise, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] images = new float[count * size * size];
        int[] labels = new int[count];
        for (int i = 0; i < count; i++) {
            int label = i % classes.size();
            labels[i] = label;
            Region region = classes.get(label).region();
            double scale = size * (0.26 + 0.12 * rnd.nextDouble());
            double cx = size / 2.0 + (rnd.nextDouble() - 0.5) * size * 0.25, cy = size / 2.0 + (rnd.nextDouble() - 0.5) * size * 0.25;
            double angle = (rnd.nextDouble() * 2 - 1) * maxAngle, cos = Math.cos(angle), sin = Math.sin(angle);
            float ink = (float) (0.7 + 0.3 * rnd.nextDouble());
            for (int y = 0; y < size; y++) {
                for (int x = 0; x < size; x++) {
                    double dx = (x + 0.5 - cx) / scale, dy = (y + 0.5 - cy) / scale;
                    double u = cos * dx + sin * dy, v = -sin * dx + cos * dy;
                    float p = region.contains(u, v) ? ink : 0f;
                    images[(i * size + y) * size + x] = p + (float) (rnd.nextGaussian() * noise);
                }
            }
        }
        return new Set(images, labels, size);
    }
}
