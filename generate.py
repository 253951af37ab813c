"""Generate text from a language model, draw a neuron's heatmap over text, steer by overwriting the neuron.

    python generate.py --load lang_model.pt --text "This movie was" --gen-length 200 --temperature 0.8
    python generate.py --load classifier.pt --text "I" --visualize --overwrite 1.0      (steer positive)
    python generate.py --load lang_model.pt --neuron 2388 --data data/binary_sst/test.csv --max-rows 5

See `python generate.py --help` for every flag."""
from sentiment_discovery.cli import run_cli, start


def main(argv=None):
    config = start("generate.py", argv)
    from sentiment_discovery.drivers.generate import run
    return run(config)


if __name__ == "__main__":
    run_cli(main)
