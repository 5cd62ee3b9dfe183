"""What people and clients read, made from the services' results: meterbill's JSON shapes
(``invoice``), the invoice sheet and its PDF (``pdf``), the usage dashboard's figures and CSV
(``dashboard``). Nothing here prices or stores anything."""
