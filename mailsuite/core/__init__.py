"""What every mailsuite program shares. Imports no daemon."""
