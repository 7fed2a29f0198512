"""The command-line tools a user runs. Each runs as a script (``python tools/<name>.py``) and
imports only the project's packages and ``tools.shared``, never another tool; being a
package lets the tests import them by name (``from tools import create_data``)."""
