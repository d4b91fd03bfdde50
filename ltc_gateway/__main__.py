from ltc_gateway.cli import main

raise SystemExit(main())
