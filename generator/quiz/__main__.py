"""``python -m generator.quiz quiz|stats``: the two commands without the rest of tnquiz."""

import click

from generator.quiz.cli import quiz, stats


@click.group()
def main() -> None:
    """tnquiz quiz and stats."""


main.add_command(quiz)
main.add_command(stats)

if __name__ == "__main__":
    main()
