package dev.lora4j.peft;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;

/** Reads the PyTorch oracle values of tools/make_variant_fixtures.py. */
final class VariantFixtures {
    private VariantFixtures() {}

    static JsonNode load(String name) throws IOException {
        try (InputStream in = VariantFixtures.class.getResourceAsStream("/fixtures/variants/" + name + ".json")) {
            if (in == null) throw new IOException("missing fixture " + name + ".json; run tools/make_variant_fixtures.py");
            return new ObjectMapper().readTree(in);
        }
    }

    static float[] floats(JsonNode o, String field) {
        JsonNode a = o.get(field);
        float[] out = new float[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = (float) a.get(i).asDouble();
        return out;
    }
}
