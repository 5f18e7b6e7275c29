from pathlib import Path

from setuptools import find_packages, setup

README = (Path(__file__).parent / "README.md").read_text(encoding="utf-8")

setup(
    name="ecom-ai",
    version="0.1.0",
    description="Recommendations, customer-service chat and fraud flags for Django shops, "
                "learned from the shop's own omnichannel traffic with PyTorch.",
    long_description=README,
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.11",
    packages=find_packages(include=["ecom_ai", "ecom_ai.*"]),
    include_package_data=True,
    package_data={"ecom_ai": ["templates/ecom_ai/*.html", "templates/ecom_ai/**/*.html",
                              "static/ecom_ai/*", "static/ecom_ai/**/*", "chat/data/*",
                              "contrib/oscar/templates/ecom_ai/oscar/*.html", "contrib/oscar/templates/oscar/*.html",
                              "contrib/oscar/templates/oscar/**/*.html"]},
    install_requires=[
        "Django>=5.2,<6.0",
        "djangorestframework>=3.15",
        "drf-spectacular>=0.27",
        "celery>=5.3,<6",
        "torch>=2.2,<3",  # the default Linux wheel is the CUDA build: see docs/quickstart.md for the CPU-only one
        "numpy>=1.26",
        "scipy>=1.11",  # sparse co-occurrence counts (ecom_ai.recommend.cooccurrence)
    ],
    extras_require={
        "text": ["sentence-transformers>=3.0"],
        "redis": ["redis[hiredis]>=5", "celery[redis]>=5.3"],  # hiredis: the C reply parser (half the client CPU per cache read)
        "postgres": ["psycopg[binary]>=3.1"],
        "test": [
            "pytest>=8",
            "pytest-django>=4.8",
            "playwright>=1.45",
            "redis[hiredis]>=5",
            "celery[redis]>=5.3",
            "psycopg[binary]>=3.1",
            "gunicorn>=22",
            # a second real host shop in the test suite (tests/oscar_shop); never needed by ecom_ai itself
            "django-oscar>=4.2,<5",
            "sorl-thumbnail>=12.10",
        ],
        "bench": ["scikit-learn>=1.4", "lightgbm>=4", "implicit>=0.7", "pandas>=2", "psutil>=5"],
    },
    classifiers=[
        "Framework :: Django",
        "Framework :: Django :: 5.2",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.11",
    ],
)
