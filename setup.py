"""Installable package: EdgeConnect image inpainting in TensorFlow/Keras 3."""

from setuptools import find_namespace_packages, setup

setup(
    name="edgeconnect-tf",
    version="0.1.0",
    description="EdgeConnect (Nazeri et al. 2019) image inpainting in TensorFlow 2 / Keras 3",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # Namespace packages so the editor's static folders (page, third-party LiteRT.js) are
    # packages whose data setuptools ships; `python -m edgeconnect_tf.editor.fetch_litert --check`
    # verifies the LiteRT.js files against their manifest.
    packages=find_namespace_packages(
        include=["edgeconnect_tf", "edgeconnect_tf.*"], exclude=["*.__pycache__"]
    ),
    include_package_data=True,
    package_data={
        "edgeconnect_tf.training.configs": ["*.yaml"],
        "edgeconnect_tf.editor.static": ["*.html", "*.css", "*.js"],
        "edgeconnect_tf.editor.static.third_party.litert": ["LICENSE", "README.md", "*.json"],
        "edgeconnect_tf.editor.static.third_party.litert.core": ["*.js", "package.json"],
        "edgeconnect_tf.editor.static.third_party.litert.wasm-utils": ["*.js", "package.json"],
        "edgeconnect_tf.editor.static.third_party.litert.wasm": ["*.js", "*.wasm"],
    },
    license="Apache-2.0",
    install_requires=[
        "tensorflow>=2.20",
        "keras>=3.10",
        "numpy>=1.26",
        "opencv-python-headless>=4.9",
        "absl-py>=2.1",
        "tensorboard>=2.20",
        "pyyaml>=6.0",
        "scipy>=1.13",
    ],
    extras_require={
        "torch": ["torch==2.13.0"],
        "demo": ["scikit-image>=0.24"],
        "test": [
            "pytest>=8.0",
            "pytest-xdist>=3.5",
            "scikit-image>=0.24",
            "ruff>=0.6",
            "playwright>=1.50",
        ],
        "litert": ["ai-edge-litert>=1.2"],
        "app": ["fastapi>=0.110", "uvicorn>=0.30"],
        # Beam 2.77 needs protobuf < 7 (TensorFlow 2.21 takes >= 6.31.1): pip picks 6.x.
        "beam": ["apache-beam>=2.77,<3"],
    },
    entry_points={"console_scripts": ["edgeconnect=edgeconnect_tf.cli:run"]},
)
