package dev.lora4j.train;

import dev.lora4j.peft.AdaLora;
import dev.lora4j.peft.RankSchedule;

/** The {@link Trainer.StepHook}s of the adapter methods that change between steps: rank growth and AdaLoRA. */
public final class AdapterSchedules {
    private AdapterSchedules() {}

    /** Grows the rank at the schedule's steps; a resumed run starts at its restored step's rank. */
    public static Trainer.StepHook rankSchedule(RankSchedule.Run run) {
        return new Trainer.StepHook() {
            @Override
            public void start(long step) {
                run.start(step);
            }

            @Override
            public void afterStep(long completed) {
                run.atStep(completed);
            }
        };
    }

    /**
     * AdaLoRA's update_and_allocate after each step, with Peft's global_step: the 0-based index of the step just
     * taken. Importance scores are not checkpointed: a resumed run starts them afresh.
     */
    public static Trainer.StepHook adaLora(AdaLora ada) {
        return completed -> ada.updateAndAllocate(completed - 1);
    }
}
