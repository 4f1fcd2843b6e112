from mmedtui.cli import main

main()
