from scalefit.cli import main

main()
