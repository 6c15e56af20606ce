package dev.lora4j.kernel;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.IntConsumer;

/**
 * The one thread pool of lora4j, sized to the machine's cores, and the only way kernels run in parallel.
 *
 * <p>The calling thread works too (cores − 1 workers plus the caller), and idle workers spin briefly before
 * they park: a training step issues hundreds of GEMMs back to back, and a worker that has to be woken from a
 * park for each costs tens of microseconds per call, which measured as 10-30% of a mid-sized GEMM.
 *
 * <p>A call made while a parallel loop is running (from one of its tasks, say attention per head calling
 * GEMM) runs serially: fanning out again would only oversubscribe the cores. So does a call from a second
 * thread while the pool is busy.
 */
public final class Parallel {
    private static final int THREADS = Math.max(1, Integer.getInteger("lora4j.threads", Runtime.getRuntime().availableProcessors()));
    private static final long SPIN_NANOS = Long.getLong("lora4j.spinMicros", 200) * 1000;
    private static final ThreadLocal<boolean[]> IN_LOOP = ThreadLocal.withInitial(() -> new boolean[1]);
    private static final ReentrantLock BUSY = new ReentrantLock();
    private static final Worker[] WORKERS = new Worker[THREADS - 1];
    private static volatile Loop current;

    static {
        for (int i = 0; i < WORKERS.length; i++) {
            WORKERS[i] = new Worker();
            Thread t = new Thread(WORKERS[i], "lora4j-kernel-" + (i + 1));
            t.setDaemon(true);
            WORKERS[i].thread = t;
            t.start();
        }
    }

    private Parallel() {}

    /** Number of threads kernels use, the caller included. */
    public static int threads() {
        return THREADS;
    }

    /** True when the caller is already inside a parallel loop, so further splitting would only oversubscribe. */
    public static boolean insideWorker() {
        return IN_LOOP.get()[0];
    }

    /**
     * Runs {@code body.accept(i)} for every i in [from, to), spread over the pool with dynamic scheduling
     * (threads pull the next index, so uneven tasks balance). Returns when all are done; rethrows the first failure.
     */
    public static void parallelFor(int from, int to, IntConsumer body) {
        int n = to - from;
        if (n <= 0) return;
        boolean[] inLoop = IN_LOOP.get();
        if (n == 1 || THREADS == 1 || inLoop[0] || !BUSY.tryLock()) {
            serial(from, to, body, inLoop);
            return;
        }
        try {
            Loop loop = new Loop(from, to, body, Math.min(WORKERS.length, n - 1));
            current = loop;
            for (Worker w : WORKERS) if (w.parked) LockSupport.unpark(w.thread);
            inLoop[0] = true;
            try {
                loop.work();
            } finally {
                inLoop[0] = false;
            }
            loop.awaitHelpers();
            current = null;
            loop.rethrow();
        } finally {
            BUSY.unlock();
        }
    }

    private static void serial(int from, int to, IntConsumer body, boolean[] inLoop) {
        boolean outer = !inLoop[0];
        inLoop[0] = true;
        try {
            for (int i = from; i < to; i++) body.accept(i);
        } finally {
            if (outer) inLoop[0] = false;
        }
    }

    /** One parallel loop: the next index to hand out, and how many helpers may still be working on it. */
    private static final class Loop {
        final int to;
        final IntConsumer body;
        final AtomicInteger next;
        final AtomicInteger helperSlots;
        final AtomicInteger helpersBusy = new AtomicInteger();
        volatile Throwable failure;

        Loop(int from, int to, IntConsumer body, int helpers) {
            this.to = to;
            this.body = body;
            this.next = new AtomicInteger(from);
            this.helperSlots = new AtomicInteger(helpers);
        }

        void work() {
            for (int i = next.getAndIncrement(); i < to; i = next.getAndIncrement()) {
                try {
                    body.accept(i);
                } catch (Throwable t) {
                    if (failure == null) failure = t;
                    next.set(to);
                }
            }
        }

        /** A worker joins only while slots remain, so it never starts on a loop the caller already finished. */
        boolean join() {
            if (helperSlots.getAndDecrement() <= 0) return false;
            helpersBusy.incrementAndGet();
            return true;
        }

        void leave() {
            helpersBusy.decrementAndGet();
        }

        void awaitHelpers() {
            helperSlots.set(0);
            while (helpersBusy.get() > 0) Thread.onSpinWait();
        }

        void rethrow() {
            Throwable t = failure;
            if (t instanceof RuntimeException r) throw r;
            if (t instanceof Error e) throw e;
            if (t != null) throw new RuntimeException(t);
        }
    }

    private static final class Worker implements Runnable {
        Thread thread;
        volatile boolean parked;

        @Override
        public void run() {
            boolean[] inLoop = IN_LOOP.get();
            Loop last = null;
            while (true) {
                Loop loop = awaitNewLoop(last);
                last = loop;
                if (!loop.join()) continue;
                inLoop[0] = true;
                try {
                    loop.work();
                } finally {
                    inLoop[0] = false;
                    loop.leave();
                }
            }
        }

        private Loop awaitNewLoop(Loop last) {
            long spinUntil = System.nanoTime() + SPIN_NANOS;
            while (true) {
                Loop loop = current;
                if (loop != null && loop != last) return loop;
                if (System.nanoTime() < spinUntil) {
                    Thread.onSpinWait();
                    continue;
                }
                parked = true;
                loop = current;
                if (loop == null || loop == last) LockSupport.park(this);
                parked = false;
                spinUntil = System.nanoTime() + SPIN_NANOS;
            }
        }
    }
}
