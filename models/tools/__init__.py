"""Tools around the engine: the seeded portfolio generator (``generate``) and the PSPLIB
importer (``psplib``). The engine never imports them."""
