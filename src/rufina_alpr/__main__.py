from rufina_alpr.cli import main

raise SystemExit(main())
