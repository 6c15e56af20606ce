package dev.lora4j.model.resnet;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lora4j.autograd.Tape;
import dev.lora4j.autograd.Variable;
import dev.lora4j.io.safetensors.SafetensorsFile;
import dev.lora4j.model.StateDict;
import dev.lora4j.model.rnn.LstmClassifier;
import dev.lora4j.tensor.Tensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** ResNet and LstmClassifier: torchvision's names and shapes, a PyTorch checkpoint's forward, save/load round trip. */
class ResNetTest {
    static final Path DIR = Path.of("src/test/resources/fixtures/conv-lstm");

    @TempDir
    Path tmp;

    @Test
    void resnet18HasTorchvisionsStateDictNamesShapesAndParameterCount() throws Exception {
        JsonNode expected = new ObjectMapper().readTree(DIR.resolve("resnet18_state_dict_shapes.json").toFile());
        ResNet net = new ResNet(ResNetConfig.resnet18(1000), 1);
        Map<String, Tensor> sd = StateDict.of(net);
        List<String> want = new ArrayList<>();
        for (JsonNode e : expected.get("state_dict")) {
            String name = e.get(0).asText();
            want.add(name);
            int[] shape = new int[e.get(1).size()];
            for (int i = 0; i < shape.length; i++) shape[i] = e.get(1).get(i).asInt();
            assertNotNull(sd.get(name), "missing " + name);
            assertArrayEquals(shape, sd.get(name).shape().dims(), name);
        }
        assertEquals(want, new ArrayList<>(sd.keySet()), "same names in torch's order");
        assertEquals(expected.get("parameters").asLong(), net.parameterCount());
    }

    @Test
    void loadsAPyTorchCheckpointAndMatchesItsLogits() throws Exception {
        ResNet net = new ResNet(new ResNetConfig(3, 7, 2, true, new int[] {4, 8}, new int[] {2, 1}, 5), 99);
        StateDict.load(net, DIR.resolve("resnet_tiny.safetensors"));
        net.train(false);
        try (SafetensorsFile io = SafetensorsFile.open(DIR.resolve("resnet_tiny_io.safetensors")); var s = Tape.noGrad()) {
            Variable logits = net.forward(Variable.constant(io.tensor("x")));
            float[] want = io.tensor("logits").data();
            assertArrayEquals(new int[] {2, 5}, logits.shape().dims());
            for (int i = 0; i < want.length; i++) assertEquals(want[i], logits.data()[i], 1e-5f * (1 + Math.abs(want[i])), "logit " + i);
        }
        assertEquals(17f, StateDict.of(net).get("layer1.0.bn1.num_batches_tracked").data()[0], "the I64 counter is read");
    }

    @Test
    void strictLoadNamesWhatIsWrong() {
        ResNet other = new ResNet(new ResNetConfig(3, 7, 2, true, new int[] {4, 8}, new int[] {1, 1}, 5), 1);
        var e = assertThrows(IllegalArgumentException.class, () -> StateDict.load(other, DIR.resolve("resnet_tiny.safetensors")));
        assertTrue(e.getMessage().contains("Unexpected key(s): layer1.1.bn1.bias"), e.getMessage());
    }

    @Test
    void saveAndLoadRoundTrip() throws Exception {
        ResNet a = new ResNet(ResNetConfig.small(4, 3), 1), b = new ResNet(ResNetConfig.small(4, 3), 2);
        Variable x = Variable.constant(Tensor.of(new float[2 * 12 * 12], 2, 1, 12, 12));
        for (int i = 0; i < x.size(); i++) x.data()[i] = (float) Math.sin(i * 0.37);
        try (var s = Tape.noGrad()) {
            a.forward(x); // training mode: moves the running statistics away from their initial values
        }
        a.train(false);
        b.train(false);
        StateDict.save(a, tmp.resolve("a.safetensors"));
        StateDict.load(b, tmp.resolve("a.safetensors"));
        try (var s = Tape.noGrad()) {
            assertArrayEquals(a.forward(x).data(), b.forward(x).data(), 0f);
        }

        LstmClassifier.Config c = new LstmClassifier.Config(7, 5, 6, 2, true, 3);
        LstmClassifier l1 = new LstmClassifier(c, 1), l2 = new LstmClassifier(c, 2);
        StateDict.save(l1, tmp.resolve("l.safetensors"));
        StateDict.load(l2, tmp.resolve("l.safetensors"));
        int[] tokens = {1, 2, 3, 4, 5, 6, 0, 1};
        try (var s = Tape.noGrad()) {
            assertArrayEquals(l1.forward(tokens, 2, 4).data(), l2.forward(tokens, 2, 4).data(), 0f);
        }
        assertTrue(Arrays.asList(StateDict.of(l1).keySet().toArray()).containsAll(List.of("embedding.weight", "lstm.weight_ih_l0",
            "lstm.weight_hh_l1_reverse", "lstm.bias_ih_l1_reverse", "fc.weight", "fc.bias")));
    }
}
