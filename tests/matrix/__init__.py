"""Family x path matrices: tiny replicas of real model families run through every path of each tab."""
