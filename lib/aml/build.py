"""``aml build <layer>``: one command for the layer builds (``silver``, ``gold``)."""

from __future__ import annotations

import argparse
import importlib

# layer -> (job module with add_arguments/execute, help)
LAYERS = {
    "silver": ("aml.silver.job", "bronze into silver and quarantine (incremental by change feed)"),
    "gold": ("aml.gold.job", "silver into rule hits and alerts, validated before publishing"),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("build", help="build a layer: " + ", ".join(LAYERS))
    layers = parser.add_subparsers(dest="layer", metavar="LAYER", required=True)
    for layer, (module_name, help_text) in LAYERS.items():
        module = importlib.import_module(module_name)
        layer_parser = layers.add_parser(layer, help=help_text)
        module.add_arguments(layer_parser)
        layer_parser.set_defaults(func=module.execute)
