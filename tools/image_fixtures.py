"""Writes the image-folder fixtures for Strata's tests: a tiny folder of PNG and
JPEG files in `crates/strata/tests/fixtures/images/` and what Keras's
`image_dataset_from_directory` makes of it (`expected_*.npy`).

Run with the reference environment (`bash ../shared/reference/setup.sh`, then
`pip install pillow`):

    ~/.cache/strata-reference-venv/bin/python tools/image_fixtures.py
"""
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
from PIL import Image
import keras
import tensorflow as tf

ROOT = Path(__file__).resolve().parent.parent / "crates/strata/tests/fixtures/images"
FOLDER = ROOT / "folder"


def smooth(rng, h, w, c):
    """A smooth random picture (JPEG keeps it nearly intact)."""
    y, x = np.mgrid[0:h, 0:w]
    out = np.zeros((h, w, c))
    for k in range(c):
        a, b, p = rng.uniform(0.2, 0.9, 3)
        out[..., k] = 127 + 120 * np.sin(a * x + b * y + 6 * p)
    return np.clip(out, 0, 255).astype(np.uint8)


def main():
    rng = np.random.default_rng(7)
    files = {
        "ankle/0.png": ("RGB", 10, 12),
        "ankle/1.jpg": ("RGB", 12, 10),
        "bag/0.png": ("L", 9, 9),
        "bag/1.png": ("RGBA", 10, 10),
        "coat/0.jpg": ("L", 11, 13),
        "coat/1.png": ("RGB", 8, 8),
    }
    for name, (mode, h, w) in files.items():
        path = FOLDER / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = smooth(rng, h, w, {"L": 1, "RGB": 3, "RGBA": 4}[mode])
        image = Image.fromarray(pixels[..., 0] if mode == "L" else pixels, mode)
        image.save(path, quality=95) if name.endswith(".jpg") else image.save(path)
    for color_mode in ["rgb", "grayscale"]:
        for size in [(8, 8), (5, 7)]:
            ds = keras.utils.image_dataset_from_directory(
                FOLDER, labels="inferred", label_mode="int", color_mode=color_mode,
                image_size=size, shuffle=False, batch_size=None, interpolation="bilinear")
            images = np.stack([x.numpy() for x, _ in ds]).astype(np.float32)
            labels = np.array([int(y.numpy()) for _, y in ds], dtype=np.int64)
            np.save(ROOT / f"expected_{color_mode}_{size[0]}x{size[1]}.npy", images)
            np.save(ROOT / "expected_labels.npy", labels)
            # TensorFlow decodes JPEG with its fast integer IDCT by default, which
            # is off by up to ~13 levels on these small files; the same pipeline
            # with the accurate IDCT (libjpeg's reference decoder) is written too.
            channels = 1 if color_mode == "grayscale" else 3
            accurate = []
            for path in ds.file_paths:
                data = open(path, "rb").read()
                if path.endswith(".jpg"):
                    img = tf.io.decode_jpeg(data, channels=channels, dct_method="INTEGER_ACCURATE")
                else:
                    img = tf.io.decode_image(data, channels=channels, expand_animations=False)
                accurate.append(tf.image.resize(img, size, method="bilinear").numpy())
            np.save(ROOT / f"accurate_{color_mode}_{size[0]}x{size[1]}.npy", np.stack(accurate).astype(np.float32))
            print(color_mode, size, images.shape, labels, ds.file_paths if hasattr(ds, "file_paths") else "")


if __name__ == "__main__":
    main()
