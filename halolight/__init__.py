"""What the hand-written handlers stand on: settings, database, ORM models, repositories, security, errors."""
