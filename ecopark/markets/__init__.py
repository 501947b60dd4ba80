"""Markets that clear between agents: byproducts, carbon allowances, credit."""
