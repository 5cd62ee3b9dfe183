"""The demo installation: its setup (``data.demo_setup``) and months of realistic usage
events (``data.demo_events``), loaded by ``meterbill demo``. Nothing here bills anything."""
