package dev.lora4j.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.stream.IntStream;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * Writes the loss curve as a PNG picture beside the adapter: the training loss per optimizer step and, when the run
 * was evaluated, the eval loss at each evaluation. Through a temp file and a rename.
 */
public final class LossCurve {
    private LossCurve() {}

    public static void writePng(List<Double> losses, String title, Path png) throws IOException {
        double[] x = IntStream.rangeClosed(1, losses.size()).asDoubleStream().toArray();
        double[] y = losses.stream().mapToDouble(Double::doubleValue).toArray();
        write(title, png, x, y, null, null);
    }

    public static void writePng(TrainingHistory history, String title, Path png) throws IOException {
        double[] x = history.steps().stream().mapToDouble(TrainingHistory.Step::step).toArray();
        double[] y = history.steps().stream().mapToDouble(TrainingHistory.Step::loss).toArray();
        List<TrainingHistory.Eval> evals = history.evals().stream()
            .filter(e -> e.metrics().containsKey("eval_loss") && Double.isFinite(e.metrics().get("eval_loss"))).toList();
        double[] ex = evals.stream().mapToDouble(TrainingHistory.Eval::step).toArray();
        double[] ey = evals.stream().mapToDouble(e -> e.metric("eval_loss")).toArray();
        write(title, png, x, y, ex.length == 0 ? null : ex, ey);
    }

    private static void write(String title, Path png, double[] x, double[] y, double[] evalX, double[] evalY) throws IOException {
        System.setProperty("java.awt.headless", "true");
        XYChart chart = new XYChartBuilder().width(800).height(450).title(title).xAxisTitle("optimizer step").yAxisTitle("loss").build();
        chart.getStyler().setLegendVisible(evalX != null).setMarkerSize(6);
        if (x.length > 0) chart.addSeries("train loss", x, y).setMarker(SeriesMarkers.NONE);
        if (evalX != null) {
            var eval = chart.addSeries("eval loss", evalX, evalY).setMarker(SeriesMarkers.CIRCLE);
            // Before and after only: two points joined by a line would draw a descent that was never measured.
            if (evalX.length <= 2) eval.setLineStyle(org.knowm.xchart.style.lines.SeriesLines.NONE);
        }
        // XChart appends ".png" to the name it is given: write ".<name>.tmp.png", then rename over <name>.
        String tmpBase = png.resolveSibling("." + png.getFileName() + ".tmp").toString();
        BitmapEncoder.saveBitmap(chart, tmpBase, BitmapEncoder.BitmapFormat.PNG);
        Files.move(Path.of(tmpBase + ".png"), png, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
