package dev.lora4j.data;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The built-in labelled dataset of {@code lora4j train}: short sentences about four topics, written from
 * templates by a seeded generator, so the project ships code, not data, and every run sees the same split.
 * Sentences mix topic words with neutral filler and a few cross-topic distractors, so a frozen encoder with an
 * untrained head is at chance and some learning is needed.
 */
public final class TopicsDataset {
    public static final List<String> LABELS = List.of("sports", "cooking", "technology", "weather");

    private static final String[][] SUBJECTS = {
        {"the striker", "our goalkeeper", "the home team", "the coach", "a young sprinter", "the referee", "the captain", "the tennis champion"},
        {"my grandmother", "the chef", "our baker", "the line cook", "a food blogger", "my roommate", "the pastry chef", "the caterer"},
        {"the engineer", "our startup", "the developer", "a security researcher", "the chip maker", "the admin", "the data team", "the app"},
        {"the forecaster", "the morning sky", "a cold front", "the coastal town", "the storm", "the valley", "the meteorologist", "the afternoon"},
    };
    private static final String[][] ACTIONS = {
        {"scored twice in the final minutes", "trained hard before the match", "won the championship", "missed the penalty kick",
            "broke the national record", "was sent off after a foul", "signed a new contract with the club", "ran the marathon in record time"},
        {"baked fresh bread with rosemary", "simmered the tomato sauce for hours", "burned the garlic again", "seasoned the soup with pepper",
            "whisked eggs for the omelette", "roasted vegetables in the oven", "kneaded the pizza dough", "fried onions until golden"},
        {"shipped a new version of the software", "fixed a bug in the database", "released an open source library", "patched the server vulnerability",
            "trained a neural network on the cluster", "upgraded the operating system", "deployed the code to the cloud", "designed a faster processor"},
        {"brought heavy rain overnight", "predicted snow for the weekend", "turned cloudy and windy", "warned of thunderstorms",
            "saw temperatures drop below freezing", "cleared up after the fog", "expects a heat wave on monday", "had strong gusts and hail"},
    };
    private static final String[] OPENERS = {"", "yesterday ", "according to the news, ", "as expected, ", "surprisingly, ", "last week ", "i heard that "};
    private static final String[] CLOSERS = {"", " and everyone talked about it", " before lunch", " once again", " despite the noise", " in the city"};

    private TopicsDataset() {}

    /** {@code n} examples, labels balanced, from {@code seed}. */
    public static List<LabelledText> generate(int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<LabelledText> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            int label = i % LABELS.size();
            String s = pick(rnd, OPENERS) + pick(rnd, SUBJECTS[label]) + " " + pick(rnd, ACTIONS[label]) + pick(rnd, CLOSERS);
            out.add(new LabelledText(s, label));
        }
        // Shuffle so batches mix labels.
        for (int i = out.size() - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            LabelledText t = out.get(i);
            out.set(i, out.get(j));
            out.set(j, t);
        }
        return out;
    }

    /** The fixed train split (400 examples). */
    public static List<LabelledText> train() {
        return generate(400, 1);
    }

    /** The fixed test split (200 examples, another seed, so texts differ from training ones). */
    public static List<LabelledText> test() {
        return generate(200, 2);
    }

    private static String pick(SplittableRandom rnd, String[] options) {
        return options[rnd.nextInt(options.length)];
    }
}
