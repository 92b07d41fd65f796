"""The worker's HTTP surface: the route table with each route's access scope, and the views."""
