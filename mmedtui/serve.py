"""``transformers serve`` for the embedded agents: ``python -m mmedtui.serve MODEL_DIR [serve options]``.

Why not plain ``transformers serve``: the embedded models name this project's image-only processor in their
``processor_config.json``; a process that has not registered it gets the bare tokenizer from
``AutoProcessor``, and the server then answers with the image dropped to one placeholder token. Registering it
first (importing ``qwen_processor``) gives the server the processor the local backend uses. Needs the
``serve`` extra (``pip install 'mmedtui[serve]'``); see docs/serving.md.
"""

from __future__ import annotations


def main() -> None:
    import typer
    from transformers.cli.serve import Serve

    import mmedtui.agents.qwen_processor  # noqa: F401 - registers the processor with AutoProcessor

    app = typer.Typer(add_completion=False)
    app.command()(Serve)  # the one command, so its options are this module's: same flags as `transformers serve`
    app()


if __name__ == "__main__":
    main()
