package dev.lora4j.io.onnx;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/**
 * ONNX Runtime (test scope) opens the same built-in model lora4j reads, so it can serve as the forward oracle:
 * here only its inputs and outputs are checked, and one run gives [batch, seq, hidden].
 */
class OnnxRuntimeSessionTest {
    @Test
    void ortOpensTheBuiltinMiniLm() throws Exception {
        byte[] model = BuiltinBertModel.ALL_MINILM_L6_V2.onnxBytes();
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions();
             OrtSession session = env.createSession(model, opts)) {
            Set<String> inputs = session.getInputNames();
            Set<String> outputs = session.getOutputNames();
            System.out.println("ORT inputs " + inputs + ", outputs " + outputs);
            assertEquals(Set.of("input_ids", "attention_mask", "token_type_ids"), inputs);
            assertTrue(outputs.contains("last_hidden_state"), outputs.toString());

            long[][] ids = {{101, 7592, 2088, 102}};                // [CLS] hello world [SEP]
            try (OnnxTensor inputIds = OnnxTensor.createTensor(env, ids);
                 OnnxTensor mask = OnnxTensor.createTensor(env, new long[][]{{1, 1, 1, 1}});
                 OnnxTensor types = OnnxTensor.createTensor(env, new long[][]{{0, 0, 0, 0}});
                 OrtSession.Result r = session.run(Map.of("input_ids", inputIds, "attention_mask", mask, "token_type_ids", types))) {
                float[][][] h = (float[][][]) r.get("last_hidden_state").orElseThrow().getValue();
                assertEquals(1, h.length);
                assertEquals(4, h[0].length);
                assertEquals(384, h[0][0].length);
                for (float v : h[0][0]) assertTrue(Float.isFinite(v));
            }
        }
    }
}
