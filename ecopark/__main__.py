from ecopark.cli import main

raise SystemExit(main())
