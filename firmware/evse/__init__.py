# The charger control core: pure, driven by Controller.tick(); see controller.py.
