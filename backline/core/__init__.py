"""Pure decision code: no I/O, no clocks, no globals. Everything here is tested exhaustively."""
