"""Forward curves: maximum-smoothness daily and hourly curves that reprice their contracts exactly."""
