from mmedtui.cli import run

run()
