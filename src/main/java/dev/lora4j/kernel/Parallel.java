package dev.lora4j.kernel;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.ForkJoinWorkerThread;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;

/**
 * The one thread pool of lora4j, sized to the machine's cores, and the only way kernels run in parallel.
 *
 * <p>A call from inside a pool thread runs serially: a kernel that is already one of several parallel tasks
 * (attention per head, say) must not fan out again and oversubscribe the cores.
 */
public final class Parallel {
    private static final int THREADS = Integer.getInteger("lora4j.threads", Runtime.getRuntime().availableProcessors());
    private static final ForkJoinPool POOL = new ForkJoinPool(THREADS, pool -> {
        ForkJoinWorkerThread t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(pool);
        t.setName("lora4j-kernel-" + t.getPoolIndex());
        t.setDaemon(true);
        return t;
    }, null, false);

    private Parallel() {}

    /** Number of worker threads kernels use. */
    public static int threads() {
        return THREADS;
    }

    /** True when the caller already runs on a kernel thread, so further splitting would only oversubscribe. */
    public static boolean insideWorker() {
        return Thread.currentThread() instanceof ForkJoinWorkerThread w && w.getPool() == POOL;
    }

    /**
     * Runs {@code body.accept(i)} for every i in [from, to), spread over the pool with dynamic scheduling
     * (tasks pull the next index, so uneven tasks balance). Returns when all are done; rethrows the first failure.
     */
    public static void parallelFor(int from, int to, IntConsumer body) {
        int n = to - from;
        if (n <= 0) return;
        if (n == 1 || THREADS == 1 || insideWorker()) {
            for (int i = from; i < to; i++) body.accept(i);
            return;
        }
        AtomicInteger next = new AtomicInteger(from);
        int workers = Math.min(THREADS, n);
        ForkJoinTask<?>[] tasks = new ForkJoinTask<?>[workers];
        for (int w = 0; w < workers; w++) {
            tasks[w] = POOL.submit(() -> {
                for (int i = next.getAndIncrement(); i < to; i = next.getAndIncrement()) body.accept(i);
            });
        }
        for (ForkJoinTask<?> t : tasks) t.join();
    }
}
