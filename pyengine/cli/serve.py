"""The HTTP service: `serve` runs it, `token new` issues the bearer tokens it accepts."""

from __future__ import annotations

import argparse
import sys


def cmd_serve(args: argparse.Namespace) -> int:
    from ..http import load_tokens, serve

    load_tokens(args.tokens)  # a bad tokens file is bad input before the server starts
    serve(args.store, args.tokens, args.host, args.port)
    return 0


def cmd_token_new(args: argparse.Namespace) -> int:
    from ..http import new_token

    print(new_token(args.role, args.tokens))
    print(f"the token's hash was added to {args.tokens}; the token itself is not kept", file=sys.stderr)
    return 0
