"""Measure what steering does: generate with the sentiment neuron forced to +V and to -V, then score the
generated texts with the same transfer classifier (mean probability of the positive class).

    python bench/steering_effect.py --load runs/quickstart/lang_model_transfer/classifier.pt \
        --text "this movie is" --samples 20 --gen-length 120 --value 1

Prints one JSON line: for each value, the mean/std probability positive over the samples and 3 example texts.
"""
import argparse
import json

import numpy as np
import torch

from sentiment_discovery.generation.decoding import Steering, generate
from sentiment_discovery.generation.neuron import resolve_neuron
from sentiment_discovery.drivers.generate import classifier_neurons
from sentiment_discovery.generation.sampling import SamplingOptions
from sentiment_discovery.models.loading import load_language_model
from sentiment_discovery.classification import load_classifier


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--load", required=True, help="transfer classifier checkpoint (classifier.pt)")
    parser.add_argument("--text", default="this movie is", help="prime")
    parser.add_argument("--samples", type=int, default=20, help="samples per value")
    parser.add_argument("--gen-length", type=int, default=120, help="characters generated per sample")
    parser.add_argument("--value", type=float, default=1.0, help="steer with +value and -value")
    parser.add_argument("--temperature", type=float, default=0.8, help="sampling temperature")
    parser.add_argument("--seed", type=int, default=1, help="sampling seed (the same for both values)")
    return parser.parse_args()


def steered_texts(model, tokenizer, spec, args, value):
    generator = torch.Generator().manual_seed(args.seed)
    prime = tokenizer.encode(args.text)
    with torch.no_grad():
        out = generate(model, prime, args.gen_length, SamplingOptions(temperature=args.temperature),
                       generator=generator, num_samples=args.samples, neuron=spec,
                       steering=Steering(value=value))
    return [tokenizer.decode(row[len(prime):].tolist()) for row in out.tokens]


def positive_probability(classifier, texts):
    tokens = [classifier.tokenizer.encode(text) or [classifier.tokenizer.encode(" ")[0]] for text in texts]
    lengths = torch.tensor([len(t) for t in tokens])
    padded = torch.zeros(len(tokens), int(lengths.max()), dtype=torch.long)
    for i, row in enumerate(tokens):
        padded[i, :len(row)] = torch.tensor(row)
    with torch.no_grad():
        probs = classifier.model.predict_proba(padded, lengths)
    return probs[:, 0].numpy()


def main():
    args = parse_args()
    model, tokenizer, _ = load_language_model(args.load)
    neurons, feature_options = classifier_neurons(args.load)
    spec = resolve_neuron(model.config, checkpoint_neurons=neurons, feature_options=feature_options)
    classifier = load_classifier(args.load)
    classifier.model.eval()
    result = {"load": args.load, "neuron": spec.index, "polarity": spec.polarity, "prime": args.text,
              "samples": args.samples, "gen_length": args.gen_length}
    for value in (args.value, -args.value):
        texts = steered_texts(model, tokenizer, spec, args, value)
        probs = positive_probability(classifier, [args.text + t for t in texts])
        result[f"overwrite_{value:+g}"] = {"mean_p_positive": float(np.mean(probs)),
                                           "std_p_positive": float(np.std(probs)), "examples": texts[:3]}
    texts = steered_texts(model, tokenizer, spec, args, None)
    unsteered = positive_probability(classifier, [args.text + t for t in texts])
    result["no_overwrite"] = {"mean_p_positive": float(np.mean(unsteered)), "std_p_positive": float(np.std(unsteered))}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
