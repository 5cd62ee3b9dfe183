from meterbill.cli.main import main

main()
