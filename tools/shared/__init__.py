"""What the scripts (tools, the machines' kit in ``environment/``) and the tests share, and
no runtime code needs: synthetic samples in ``PackOccInputs`` form (``synthetic_batch``),
random Occ3D-like scenes (``synthetic_scenes``) and the compiled ops' benchmark cases with
their timer (``op_benchmark``). Not a tool: it imports the rooms only."""
