from backline.cli import main

main()
