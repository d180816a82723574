from kubepulse.cli import main

main()
