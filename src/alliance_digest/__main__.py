from alliance_digest.cli import main

main()
