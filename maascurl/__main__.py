from maascurl.cli import main

main()
