#!/usr/bin/env python3
"""Times one DCGAN training step in Keras (TensorFlow backend), for comparison with Strata.

The step is the keras-io DCGAN's custom train_step (a discriminator update on real and
generated images with noisy labels, then a generator update through the discriminator),
with two Adam optimizers (learning rate 2e-4, beta_1 0.5) and
BinaryCrossentropy(from_logits=True), compiled with tf.function (XLA off unless --xla),
on 28x28x1 images. The "real" images are one fixed batch of uniform noise in [-1, 1]:
this measures speed only. Each step after the warm-up is timed on its own (the losses
are read back, so the step has finished) and the median is reported.

    python tools/bench/keras_dcgan.py [--steps 50] [--warmup 5] [--xla] [--json]

With --json it prints one line:
{"framework": "keras", "steps_per_s": ..., "samples_per_s": ..., "step_ms_median": ...}
(steps_per_s = 1000 / step_ms_median, samples_per_s = batch size * steps_per_s).
"""

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

LATENT_DIM = 128


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=50, help="timed steps (default 50)")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first, tracing included (default 5)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=2, help="intra-op threads (inter-op is 1)")
    p.add_argument("--xla", action="store_true", help="tf.function(jit_compile=True)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON line")
    args = p.parse_args()
    if args.steps < 1 or args.warmup < 0:
        p.error("--steps must be at least 1 and --warmup at least 0")

    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    from keras import layers, ops
    keras.utils.set_random_seed(args.seed)

    generator = keras.Sequential([
        keras.Input((LATENT_DIM,)),
        layers.Dense(7 * 7 * 128), layers.LeakyReLU(negative_slope=0.2), layers.Reshape((7, 7, 128)),
        layers.Conv2DTranspose(128, 4, strides=2, padding="same"), layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2DTranspose(64, 4, strides=2, padding="same"), layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(1, 7, padding="same", activation="tanh"),
    ], name="generator")
    discriminator = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(64, 4, strides=2, padding="same"), layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(128, 4, strides=2, padding="same"), layers.LeakyReLU(negative_slope=0.2),
        layers.Flatten(), layers.Dropout(0.2), layers.Dense(1),
    ], name="discriminator")

    class GAN(keras.Model):
        """The keras-io DCGAN model (examples/generative/dcgan_overriding_train_step.py)."""

        def __init__(self, discriminator, generator, latent_dim):
            super().__init__()
            self.discriminator = discriminator
            self.generator = generator
            self.latent_dim = latent_dim
            self.seed_generator = keras.random.SeedGenerator(1337)

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super().compile()
            self.d_optimizer = d_optimizer
            self.g_optimizer = g_optimizer
            self.loss_fn = loss_fn
            self.d_loss_metric = keras.metrics.Mean(name="d_loss")
            self.g_loss_metric = keras.metrics.Mean(name="g_loss")

        @property
        def metrics(self):
            return [self.d_loss_metric, self.g_loss_metric]

        def train_step(self, real_images):
            batch_size = ops.shape(real_images)[0]
            random_latent_vectors = keras.random.normal(shape=(batch_size, self.latent_dim), seed=self.seed_generator)
            generated_images = self.generator(random_latent_vectors)
            combined_images = ops.concatenate([generated_images, real_images], axis=0)
            labels = ops.concatenate([ops.ones((batch_size, 1)), ops.zeros((batch_size, 1))], axis=0)
            labels += 0.05 * tf.random.uniform(tf.shape(labels))  # noisy labels, as in keras-io

            with tf.GradientTape() as tape:
                predictions = self.discriminator(combined_images)
                d_loss = self.loss_fn(labels, predictions)
            grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
            self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))

            random_latent_vectors = keras.random.normal(shape=(batch_size, self.latent_dim), seed=self.seed_generator)
            misleading_labels = ops.zeros((batch_size, 1))
            with tf.GradientTape() as tape:
                predictions = self.discriminator(self.generator(random_latent_vectors))
                g_loss = self.loss_fn(misleading_labels, predictions)
            grads = tape.gradient(g_loss, self.generator.trainable_weights)
            self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))

            self.d_loss_metric.update_state(d_loss)
            self.g_loss_metric.update_state(g_loss)
            return {"d_loss": self.d_loss_metric.result(), "g_loss": self.g_loss_metric.result()}

    gan = GAN(discriminator=discriminator, generator=generator, latent_dim=LATENT_DIM)
    gan.compile(d_optimizer=keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5),
                g_optimizer=keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5),
                loss_fn=keras.losses.BinaryCrossentropy(from_logits=True))
    # Build the optimizers' slots outside the compiled function.
    gan.d_optimizer.build(discriminator.trainable_variables)
    gan.g_optimizer.build(generator.trainable_variables)

    step = tf.function(gan.train_step, jit_compile=args.xla)
    real = tf.random.uniform((args.batch_size, 28, 28, 1), minval=-1.0, maxval=1.0, seed=args.seed)

    def run_step():
        logs = step(real)
        return float(logs["d_loss"]), float(logs["g_loss"])  # waits for the step to finish

    for _ in range(args.warmup):
        run_step()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        d_loss, g_loss = run_step()
        times.append(time.perf_counter() - t0)

    median_ms = statistics.median(times) * 1000.0
    steps_per_s = 1000.0 / median_ms
    result = {"framework": "keras", "steps_per_s": round(steps_per_s, 3),
              "samples_per_s": round(args.batch_size * steps_per_s, 1), "step_ms_median": round(median_ms, 3)}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"keras DCGAN step, batch {args.batch_size}, {args.threads} threads, xla={'on' if args.xla else 'off'}: "
              f"median {median_ms:.2f} ms over {args.steps} steps (min {min(times) * 1000:.2f}, max {max(times) * 1000:.2f}); "
              f"{steps_per_s:.2f} steps/s, {args.batch_size * steps_per_s:.1f} samples/s; "
              f"params: generator {generator.count_params()}, discriminator {discriminator.count_params()}; "
              f"last d_loss {d_loss:.4f}, g_loss {g_loss:.4f}")


if __name__ == "__main__":
    main()
