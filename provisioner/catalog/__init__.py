"""Instance-type catalog: types, offerings, prices, allocatable resources and node labels."""
