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

/** Writes the training loss per step as a PNG picture (next to the adapter), through a temp file and a rename. */
public final class LossCurve {
    private LossCurve() {}

    public static void writePng(List<Double> losses, String title, Path png) throws IOException {
        System.setProperty("java.awt.headless", "true");
        XYChart chart = new XYChartBuilder().width(800).height(450).title(title).xAxisTitle("optimizer step").yAxisTitle("loss").build();
        chart.getStyler().setLegendVisible(false).setMarkerSize(0);
        double[] x = IntStream.rangeClosed(1, losses.size()).asDoubleStream().toArray();
        double[] y = losses.stream().mapToDouble(Double::doubleValue).toArray();
        chart.addSeries("loss", x, y);
        // XChart appends ".png" to the name it is given: write ".<name>.tmp.png", then rename over <name>.
        String tmpBase = png.resolveSibling("." + png.getFileName() + ".tmp").toString();
        BitmapEncoder.saveBitmap(chart, tmpBase, BitmapEncoder.BitmapFormat.PNG);
        Files.move(Path.of(tmpBase + ".png"), png, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
